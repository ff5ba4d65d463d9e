"""``stabn-bench readme``: the README's results block comes from a run folder's files."""
import pandas as pd
import pytest

from stabn_bench.benchmark.cli import main
from stabn_bench.benchmark.errors import StabnBenchError
from stabn_bench.benchmark.report import write_report
from stabn_bench.benchmark.report.readme import BEGIN, END, update_readme
from report_fixtures import make_results_dir


@pytest.mark.slow
def test_readme_block_is_regenerated_from_the_run(tmp_path):
    run = make_results_dir(tmp_path / "run")
    write_report(run, formats=("png",))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{BEGIN}\nold numbers\n{END}\n\n## After\n")
    assert main(["readme", str(run), "--readme", str(readme), "--figure-dir", str(tmp_path / "docs")]) == 0
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# Title\n\nintro\n\n") and text.rstrip().endswith("## After")
    accuracy = pd.read_csv(run / "accuracy.csv")
    first = accuracy.iloc[0]
    assert f"{first['top1']:.3f}" in text  # the accuracy table holds the run's numbers
    summary = pd.read_csv(run / "summary.csv")
    best = summary[(summary.metric == "insertion_auc")].sort_values("mean").iloc[-1]
    assert f"{best['mean']:.3f}" in text
    assert (tmp_path / "docs" / "run-curve_deletion.png").is_file()
    assert "](docs/run-curve_deletion.png)" in text
    # running it again replaces the block instead of adding a second one
    update_readme(run, readme, tmp_path / "docs")
    assert readme.read_text().count(BEGIN) == 1


@pytest.mark.slow
def test_readme_without_a_block_is_a_clear_error(tmp_path):
    run = make_results_dir(tmp_path / "run")
    write_report(run, formats=("png",))
    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n")
    with pytest.raises(StabnBenchError, match="RESULTS:BEGIN"):
        update_readme(run, readme, tmp_path / "docs")
