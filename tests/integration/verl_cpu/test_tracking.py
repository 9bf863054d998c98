"""verl 0.9.1's ``Tracking`` with the logger list this project composes writes the JSONL our exporter tails."""

from __future__ import annotations

from tests.integration.verl_cpu.harness import composed, job_of
from trainer_entry.exporter import JsonlTailer, TrainerState


def test_verl_file_logger_output_is_parsed_by_our_exporter(tmp_path, monkeypatch):
    from verl.utils.tracking import Tracking

    cfg = composed(job_of({}, "track"))
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(path))  # what trainer_entry.main sets for the verl child
    tracking = Tracking(project_name=cfg.trainer.project_name, experiment_name=cfg.trainer.experiment_name,
                        default_backend=list(cfg.trainer.logger), config=None)
    tracking.log({"critic/score/mean": 0.5, "actor/kl_loss": 0.01, "training/global_step": 3,
                  "val-core/classification/acc/mean@1": 0.9}, step=3)
    tracking.log({"critic/score/mean": 0.75, "training/global_step": 4}, step=4)
    tracking.logger["file"].finish()
    records = JsonlTailer(path).poll()
    assert len(records) == 2
    state = TrainerState(engine="verl", model="m")
    assert [state.ingest(r, now=0.0) for r in records] == [3, 4]
    assert state.values["critic/score/mean"] == 0.75 and state.values["actor/kl_loss"] == 0.01
    assert state.val_scores == {"classification": 0.9}
