"""What a new user sees first: an empty history, and a legend that matches the loaded weights."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from portrait_editor.labels import ATR, LIP_NECK, UNKNOWN
from portrait_editor.models import build_model
from portrait_editor.pipeline.weights import save_weights

from .conftest import gui, key, open_photo


def history_rows(win) -> list[str]:
    model = win.history.model()
    return [model.index(row, 0).data(Qt.ItemDataRole.DisplayRole) for row in range(model.rowCount())]


def legend_names(win) -> list[str]:
    return [win.legend.list.item(row).text() for row in range(win.legend.list.count())]


def test_history_is_empty_until_a_photo_is_open(qtbot, window, photo_path):
    assert history_rows(window) == []
    open_photo(qtbot, window, photo_path)
    assert history_rows(window) == ["Opened photo"]
    key(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # Edit ▸ Invert mask
    rows = history_rows(window)
    assert len(rows) == 2 and rows[0] == "Opened photo"


@pytest.fixture(scope="module")
def atr_weights(tmp_path_factory):
    """Tiny networks whose weights files say their parsing ids are ATR's 18 labels."""
    folder = tmp_path_factory.mktemp("atr-weights")
    torch.manual_seed(0)
    n = len(ATR)
    for role, net in (("parsing", build_model("parsing", preset="tiny", num_classes=n, label_set=ATR.name)),
                      ("completion", build_model("completion", preset="tiny", num_classes=n))):
        save_weights(net, role, folder, metadata={"label_set": ATR.name})
    return folder


def test_legend_follows_the_label_set_of_the_loaded_weights(qtbot, tmp_path, atr_weights, tiny_weights):
    from portrait_editor.ui.main_window import MainWindow

    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    store.setValue("weights_dir", str(atr_weights))
    store.setValue("device", "cpu")
    win = MainWindow(store)
    win.show()
    qtbot.waitExposed(win)
    assert legend_names(win)[:-1] == list(LIP_NECK.names)  # until the weights say otherwise
    try:
        with qtbot.waitSignal(gui(win.engine.ready), timeout=60_000):
            win.start_engine()
        qtbot.waitUntil(lambda: win.label_set is ATR)
        assert legend_names(win) == [*ATR.names, "let the network decide"]
        assert win.legend.list.item(len(ATR)).data(Qt.ItemDataRole.UserRole) == UNKNOWN
        assert win.options.label == ATR.id("hair")
        assert win.tool_options.label_name.text() == "hair"
        assert win.canvas.label_name(ATR.id("bag")) == "bag"  # an ATR label LIP does not have

        # Other weights chosen later (Settings): the legend follows again.
        with qtbot.waitSignal(gui(win.engine.ready), timeout=60_000):
            win.runs.start_engine(str(tiny_weights), "cpu")
        qtbot.waitUntil(lambda: win.label_set is LIP_NECK)
        assert legend_names(win) == [*LIP_NECK.names, "let the network decide"]
    finally:
        win.close()
