"""OpenID Connect and the OAuth 2.0 social providers (Google, Facebook, Login with Amazon).

One module per idea: outbound HTTP with timeouts (`http`), discovery (`discovery`), key
sets (`jwks`), ID token validation (`id_token`), claims → FederatedIdentity (`claims`),
the providers' own checks (`google`, `facebook`, `amazon`), provider endpoints
(`endpoints`) and the browser authorization code flow (`flow`).
"""
