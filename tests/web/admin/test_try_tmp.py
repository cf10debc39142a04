from playwright.sync_api import sync_playwright
from tests.web.admin.browser import CHROMIUM, ARGS, accessibility_violations, screenshot
from tests.web.admin.support import AdminBrowser, admin_link

def test_try(gateway, env):
    link = admin_link(env)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = b.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(link)
        page.get_by_role("button", name="Sign in as administrator").click()
        page.wait_for_url(gateway.url + "/admin/")
        for name, path in [("index", "/admin/"), ("roles", "/admin/roles/111111111111/Base"), ("rules", "/admin/providers/corp/rules"), ("provider", "/admin/providers/corp")]:
            page.goto(gateway.url + path)
            print(name, accessibility_violations(page))
            screenshot(page, "try-" + name)
        print("console errors", errors)
        b.close()
