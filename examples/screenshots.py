"""Re-take the README's screenshots (docs/screenshots/) in headless Chromium.

    CHATBOT_COUNTRY=US CHATBOT_ALLOWED_ORIGINS='["http://127.0.0.1:8000"]' make run   # the chat
    python examples/serve_clinic.py --port 8000                                       # the clinic
    python examples/screenshots.py --app http://127.0.0.1:7860 --clinic http://127.0.0.1:8000

Then look at every picture before committing it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
INPUT = "Your question about restless legs"


def chat(browser, app: str, size: tuple[int, int], name: str, questions: list[str]) -> None:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(app + "/")
    box = page.get_by_label(INPUT)
    box.wait_for(timeout=60_000)
    for n, question in enumerate(questions, 1):
        box.fill(question)
        box.press("Enter")
        page.wait_for_function(
            "n => document.querySelectorAll('#conversation .answer-done').length >= n", arg=n
        )
    page.locator("body").click(position={"x": 1, "y": 1})  # no focus ring in the picture
    page.screenshot(path=str(OUT / name))
    page.close()


def widget(browser, clinic: str, size: tuple[int, int], name: str, questions: list[str]) -> None:
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(clinic)
    page.locator("[data-clinic-chat] button[aria-controls=p]").click()
    box = page.locator("[data-clinic-chat] textarea")
    for n, question in enumerate(questions, 1):
        box.fill(question)
        box.press("Enter")
        page.locator("[data-clinic-chat] .log > .a:not(.wait)").nth(n - 1).wait_for()
    chips = page.locator("[data-clinic-chat] .chip")
    if chips.count():
        chips.first.click()  # a citation opened, as a patient checking a quote would
    page.screenshot(path=str(OUT / name))
    page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default="http://127.0.0.1:7860")
    parser.add_argument("--clinic", default="http://127.0.0.1:8000/")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        iron = ["Can low iron cause restless legs?"]
        chat(browser, args.app, (1280, 800), "chat-desktop.png", iron)
        chat(browser, args.app, (320, 640), "chat-phone-320.png", iron)
        chat(browser, args.app, (320, 640), "chat-phone-emergency.png", ["I have chest pain"])
        widget(browser, args.clinic, (1280, 800), "widget-desktop.png", iron)
        widget(browser, args.clinic, (360, 740), "widget-phone.png", iron)
        browser.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
