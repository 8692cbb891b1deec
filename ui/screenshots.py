"""Screenshots of the web chat for the README: desktop (1280) and phone (390), light and dark.

    python -m ui.screenshots --url http://127.0.0.1:7860/ --out docs/

Drives a running `rag serve` in Debian's Chromium (Playwright, ``/usr/bin/chromium``):
asks a question and an "else" follow-up, hovers [1] of the first answer and opens it
in the reader; on the phone, the chat and then the reader sheet.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BOT = '#chat [data-testid="bot"]'


def _ask(page, question: str) -> None:
    n = page.locator(f"{BOT} .answer .plain").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"n => document.querySelectorAll('{BOT} .answer .plain').length > n", arg=n, timeout=60_000)


def shoot(url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=ARGS)
        for theme in ("light", "dark"):
            for size, (w, h) in (("desktop", (1280, 900)), ("phone", (390, 844))):
                ctx = browser.new_context(viewport={"width": w, "height": h}, color_scheme=theme,
                                          is_mobile=size == "phone", has_touch=size == "phone")
                page = ctx.new_page()
                page.goto(url + ("?__theme=dark" if theme == "dark" else ""), wait_until="load")
                page.wait_for_selector("#question textarea", timeout=60_000)
                _ask(page, "Who accompanied Noem on the tour?")
                _ask(page, "Who else was there?")
                link = page.locator(f"{BOT} .answer").first.locator("a.cite").first
                link.scroll_into_view_if_needed()
                if size == "desktop":
                    link.click()
                    page.wait_for_selector("#reader mark.focus")
                    link.hover()
                    page.wait_for_selector("#cite-pop")
                    path = out / f"ui-{size}-{theme}.png"
                    page.screenshot(path=str(path))
                    saved.append(path)
                else:
                    page.mouse.move(0, 0)
                    path = out / f"ui-{size}-{theme}.png"
                    page.screenshot(path=str(path))
                    saved.append(path)
                    link.click()
                    page.wait_for_selector("#reader mark.focus")
                    page.wait_for_timeout(200)
                    path = out / f"ui-{size}-{theme}-reader.png"
                    page.screenshot(path=str(path))
                    saved.append(path)
                ctx.close()
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--out", type=Path, default=Path("docs"))
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    for path in shoot(a.url if a.url.endswith("/") else a.url + "/", a.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
