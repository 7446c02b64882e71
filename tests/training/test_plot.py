"""training.plot reads the JSONL logs the training scripts write and draws them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.plot import main, moving_average, read_log

pytest.importorskip("matplotlib")


def _log(folder, rows, torn=False):
    folder.mkdir()
    text = "\n".join(json.dumps(r) for r in rows) + "\n"
    if torn:
        text += '{"step": 99, "l1": 0.'
    (folder / "log.jsonl").write_text(text)
    return folder


def test_read_log_collects_series_and_skips_a_torn_line(tmp_path):
    run = _log(tmp_path / "run", [{"step": 2, "time": 1.0, "l1": 0.5, "total": 2.0},
                                  {"step": 1, "l1": 0.7},
                                  {"step": 2, "val_l1_hole": 20.0}], torn=True)
    log = read_log(run)
    assert set(log) == {"l1", "total", "val_l1_hole"}
    steps, values = log["l1"]
    assert steps.tolist() == [1, 2] and values.tolist() == [0.7, 0.5]  # sorted by step


def test_moving_average():
    np.testing.assert_allclose(moving_average(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])
    np.testing.assert_allclose(moving_average(np.array([1.0, 2.0]), 1), [1, 2])


def test_main_writes_a_png_and_reports_bad_keys(tmp_path, capsys):
    a = _log(tmp_path / "a", [{"step": s, "l1": 1 / s, "val_l1_hole": 30 - s} for s in range(1, 30)])
    b = _log(tmp_path / "b", [{"step": s, "l1": 2 / s} for s in range(1, 10)])
    out = tmp_path / "curves.png"
    assert main([str(a), str(b), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([str(a), "-o", str(out), "--keys", "nope"]) == 2
    assert "no nope" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), "-o", str(out)]) == 2
