"""Names in a config (methods, method options, metrics, granularities, substrates) are checked before any work."""
from __future__ import annotations

import time

import pytest

from stabn_bench.benchmark.cli import main


@pytest.fixture(scope="module", autouse=True)
def imported():
    """Import what any command imports (torch, Captum, the registries) once, so that the timing below is the
    time of the checks, not of the interpreter's first imports."""
    from stabn_bench.benchmark.cli import build_parser
    from stabn_bench.benchmark.config import load_config

    build_parser()
    load_config("smoke")


@pytest.mark.parametrize("override, message", [
    ("explain.methods=[gradcamm]", "config key 'explain.methods' names unknown method 'gradcamm'; valid: all, "),
    ("explain.options.gradcam.layr=res4", "'explain.options.gradcam.layr': method 'gradcam' has no option 'layr'; "
                                          "valid options: layer; did you mean 'layer'?"),
    ("explain.options.gradcam.layer=res9", "explain.options.gradcam.layer"),
    ("explain.options.occlusion.windw=[1,8,8]", "valid options: baseline, stride, window; did you mean 'window'?"),
    ("explain.options.integrated-gradients.batch_size=2", "set explain.batch_size instead"),
    ("explain.options.gradcm.x=1", "'explain.options.gradcm' names unknown method 'gradcm'"),
    ("metrics.metrics=[deletion_aucc]", "unknown metric 'deletion_aucc'"),
    ("metrics.granularities=[tubes]", "'metrics.granularities[0]' has value 'tubes'; valid choices: voxel, tube, frame"),
    ("metrics.substrate=blurr", "'metrics.substrate' has value 'blurr'"),
    ("metrics.temporal_substrate=frozn", "'metrics.temporal_substrate' has value 'frozn'"),
    ("explain.methods_module=no_such_methods.py", "'explain.methods_module': methods module file 'no_such_methods.py' does not exist"),
])
def test_run_stops_at_once_with_a_one_line_error(tmp_path, capsys, override, message):
    started = time.perf_counter()
    code = main(["run", "--preset", "smoke", f"output_dir={tmp_path / 'results'}", f"data.root={tmp_path / 'data'}",
                 f"checkpoint_dir={tmp_path / 'ckpt'}", override])
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()  # nothing was done
    assert seconds < 1.0, f"took {seconds:.2f} s"


def test_run_accepts_the_modules_as_options(tmp_path, capsys):
    methods = tmp_path / "m.py"
    methods.write_text("from stabn_bench.baselines import register_method\n"
                       "@register_method('test-validation-any', cost='free', kind='control')\n"
                       "def any_options(model, clips, targets, **options):\n    return clips\n")
    from stabn_bench import baselines

    try:
        code = main(["run", "--preset", "smoke", "--methods-module", str(methods), f"output_dir={tmp_path}",
                     "explain.methods=[test-validation-any]", "explain.options.test-validation-any.anything=1",
                     "metrics.metrics=[no-such-metric]"])
    finally:
        baselines.unregister_method("test-validation-any")
    assert code == 2  # the method and its free-form option passed; the metric is the first mistake
    assert "unknown metric 'no-such-metric'" in capsys.readouterr().err
