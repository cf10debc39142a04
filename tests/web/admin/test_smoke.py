from tests.web.admin.support import AdminBrowser


def test_every_page_renders(admin: AdminBrowser) -> None:
    for path in ["/admin/", "/admin/accounts", "/admin/providers", "/admin/providers/new",
                 "/admin/providers/new?kind=saml", "/admin/providers/new?kind=google",
                 "/admin/providers/corp", "/admin/providers/corp/rules", "/admin/roles",
                 "/admin/roles/new", "/admin/roles/111111111111/Base", "/admin/simulator",
                 "/admin/audit", "/admin/config", "/admin/audit/export.csv",
                 "/admin/audit/export.jsonl", "/admin/config/export.yaml"]:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.text[-3000:])
