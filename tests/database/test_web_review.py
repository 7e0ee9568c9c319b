"""The correction editor of the web page (review.js) in headless Chromium: a reviewed detection becomes
a label (confirm, false positive, class change, a painted mask with brush and polygon, channel switch),
the history lists who did what, and the family's retrain flag is shown."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from test_model_life import CLASSES, life  # noqa: F401  (the fixture)
from test_web_page import browser, browser_page  # noqa: F401  (the fixtures)

from database.orm import HealthLevel, ModelHealthCheck, PartFamily

pytestmark = pytest.mark.browser


def _corrections(client, defect_id: int, headers) -> list[dict]:
    return client.get(f"/api/v1/defects/{defect_id}/corrections", headers=headers).json()


def test_editor_paints_a_mask_and_the_review_buttons_store_labels(
    live_server,
    browser_page,  # noqa: F811
    client,
    life,  # noqa: F811
    factory,
) -> None:
    eng = life["users"]["eng"]
    a, b, c = life["defects"]
    with factory() as session:
        family = session.scalar(select(PartFamily).where(PartFamily.code == "HPT1"))
        session.add(
            ModelHealthCheck(
                part_family_id=family.id,
                model_id=None,
                level=HealthLevel.RETRAIN,
                reasons=["input statistics changed: mean by 40 %"],
                figures={"input_shift": 0.4},
            )
        )
        session.commit()
    page = browser_page
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/ui/")
    page.fill("#api-key", eng.key)
    page.click("#sign-in")
    page.wait_for_selector(f"#results tbody tr[data-id='{a}']")
    page.click(f"#results tbody tr[data-id='{a}']")
    page.wait_for_selector(f"#review-editor[data-defect='{a}']")
    assert "retrain recommended" in page.text_content("#model-flag")
    assert "mean by 40 %" in page.text_content("#model-flag")
    assert page.locator("#ed-class option").all_text_contents() == CLASSES[1:]
    assert page.locator("#ed-channel option").all_text_contents() == ["white", "uv"]
    page.select_option("#ed-channel", "uv")  # channel switch reloads the capture under the mask
    page.wait_for_selector("#ed-canvas[data-channel='uv']")

    # brush: paint a crack stroke on an empty area, save it as a mask correction
    page.locator("#ed-canvas").scroll_into_view_if_needed()
    box = page.locator("#ed-canvas").bounding_box()
    scale = box["width"] / 64

    def at(x: float, y: float) -> tuple[float, float]:
        return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale

    page.select_option("#ed-class", "1")
    page.mouse.move(*at(40, 45))
    page.mouse.down()
    page.mouse.move(*at(50, 45), steps=10)
    page.mouse.up()
    page.click("#ed-save")
    page.wait_for_function("document.querySelectorAll('#ed-history li').length === 1")
    page.wait_for_selector(f"#review-editor[data-defect='{a}']")
    first = _corrections(client, a, eng.headers)[0]
    assert first["kind"] == "mask_edit" and first["added_pixels"] > 10 and first["created_by"] == "eng"

    # polygon: three clicks and "fill" paint a pit triangle
    page.click("#ed-polygon")
    page.select_option("#ed-class", "2")
    for x, y in ((5, 25), (20, 25), (5, 40)):
        page.mouse.click(*at(x, y))
    page.click("#ed-close-polygon")
    page.click("#ed-save")
    page.wait_for_function("document.querySelectorAll('#ed-history li').length === 2")
    page.wait_for_selector(f"#review-editor[data-defect='{a}']")
    assert _corrections(client, a, eng.headers)[0]["added_pixels"] > 50

    # class change and the review buttons on the other defects
    page.click(f"#results tbody tr[data-id='{c}']")
    page.wait_for_selector(f"#review-editor[data-defect='{c}']")
    page.select_option("#ed-to-class", "pit")
    page.click("#ed-change-class")
    page.wait_for_function("document.querySelectorAll('#ed-history li').length === 1")
    assert _corrections(client, c, eng.headers)[0]["to_class"] == "pit"
    page.click(f"#results tbody tr[data-id='{b}']")
    page.wait_for_selector(f"#review-editor[data-defect='{b}']")
    page.click("#review-fp")
    page.wait_for_function(
        "document.querySelector(\"dd[data-field='Review']\").textContent === 'false_positive'"
    )
    assert _corrections(client, b, eng.headers)[0]["kind"] == "false_positive"
    label = client.get(f"/api/v1/defects/{b}/label.png", headers=eng.headers)
    import cv2

    mask = cv2.imdecode(np.frombuffer(label.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert (mask[30:36, 30:36] == 0).all() and (mask[50:54, 5:15] == 2).all() and (mask[45, 42:48] == 1).all()
    assert page.js_errors == []
