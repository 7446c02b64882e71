import json
from dataclasses import dataclass

import pytest

from training.loop import Dist, prepare_run


@dataclass
class _Config:
    lr: float = 1e-3
    scale_range: tuple[float, float] = (0.8, 1.2)


def test_a_run_resumes_when_only_new_options_at_their_default_are_missing(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"lr": 1e-3}))  # written before scale_range existed
    prepare_run(tmp_path, _Config(), Dist())
    assert json.loads((tmp_path / "config.json").read_text())["scale_range"] == [0.8, 1.2]
    (tmp_path / "config.json").write_text(json.dumps({"lr": 1e-3}))
    with pytest.raises(SystemExit, match="scale_range"):  # a new option set away from its default
        prepare_run(tmp_path, _Config(scale_range=(1.0, 1.05)), Dist())
    with pytest.raises(SystemExit, match="lr"):
        prepare_run(tmp_path, _Config(lr=0.1), Dist())
