"""Identity sources: each turns a validated upstream assertion or token into a FederatedIdentity."""
