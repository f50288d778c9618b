"""The trainable's report protocol: final metrics survive the trip through a Tune result, long tables
travel as text (Tune's loggers skip text; they try to chart lists and warn)."""
from trainables.protocol import EPOCH, FINAL, REPORT_KIND, epoch_result, final_metrics, final_result


def test_final_metrics_round_trip_and_tables_travel_as_text() -> None:
    metrics = {"val_accuracy": 0.9, "rounds": [{"round": 0, "val_accuracy": 0.5}], "ray_gpu_ids": '["0"]'}
    result = final_result(metrics)
    assert result[REPORT_KIND] == FINAL
    assert not any(isinstance(v, list) for v in result.values())
    assert final_metrics(result) == metrics
    assert epoch_result({"epoch": 1})[REPORT_KIND] == EPOCH
