"""What TensorBoard shows a user first: a Custom Scalars layout and the hyperparameters they tune.

TensorBoard lists scalars by name (Lightning's ``epoch`` counter first), and its HParams tab shows
what a run declares: the whole flattened config put every callback's settings first. Each run
here declares a layout (train and validation loss on one chart, validation PSNR beside bicubic's
on the same patches, the learning rate) and, as hyperparameters, the model, data, degradation,
optimiser, scheduler, epochs and seed, with the keys set on the command line (a sweep's values)
marked to come first. Both are written when training starts, so a run that failed before that
(no data, say) never shows in the HParams table; ``hp/best_val_psnr`` is the module's own value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from espcn_lightning.training.identity import GROUPS, TUNED, UNTUNED, under

#: The metric of the HParams table, logged by the LightningModule at every validation.
METRIC = "hp/best_val_psnr"
#: A study's pruned trial logs the epoch it was stopped after, so HParams shows it as pruned.
PRUNED_METRIC = "hp/pruned_at_epoch"

#: Custom Scalars: category -> chart title -> ["Multiline", tag regexes].
LAYOUT = {
    "ESPCN": {
        "loss (MSE on Y / 255): train and validation": [
            "Multiline",
            [r"^train/loss$", r"^val/loss$"],
        ],
        "validation PSNR (dB): ESPCN and bicubic, same patches": [
            "Multiline",
            [r"^val/psnr$", r"^val/bicubic_psnr$"],
        ],
        "learning rate": ["Multiline", [r"^lr-"]],
    }
}


def _plain(value: object) -> bool | int | float | str:
    """A value TensorBoard's HParams can hold: lists and None become their text."""
    return value if isinstance(value, bool | int | float | str) else str(value)


def _flatten(node: object, key: str, out: dict[str, bool | int | float | str]) -> None:
    """Every leaf of a config node as ``a/b`` names; a ``_target_`` names its node by class,
    unless the node's config group already named it."""
    name = key.replace(".", "/")
    if not isinstance(node, dict):
        out[name] = _plain(node)
        return
    if "_target_" in node:
        out.setdefault(name, str(node["_target_"]).rsplit(".", 1)[-1])
    for child, value in node.items():
        if not str(child).startswith("_") and not under(f"{key}.{child}", UNTUNED):
            _flatten(value, f"{key}.{child}", out)


def _select(config: object, key: str) -> object:
    """The value at a dotted key of a plain config dict (None where it is absent)."""
    node: object = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def tuned_hparams(
    cfg: DictConfig, overrides: Sequence[str] = (), choices: Mapping[str, str | None] | None = None
) -> tuple[dict[str, bool | int | float | str], set[str]]:
    """The hyperparameters a user tunes, as flat ``a/b`` names, and the names the command line
    set (``overrides`` like ``data.batch_size=8``; ``choices`` maps config groups to options)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    hparams: dict[str, bool | int | float | str] = {
        group: option for group, option in (choices or {}).items() if group in GROUPS and option
    }
    for key in TUNED:
        if _select(config, key) is not None:
            _flatten(_select(config, key), key, hparams)
    chosen = set()
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key in GROUPS and key in hparams:
            chosen.add(key)
        elif under(key, TUNED) and not under(key, UNTUNED):
            _flatten(_select(config, key), key, hparams)
            chosen.add(key.replace(".", "/"))
    return hparams, chosen


#: TensorBoard's HParams type for each plain value type.
_TYPES = {
    bool: api_pb2.DATA_TYPE_BOOL,
    int: api_pb2.DATA_TYPE_FLOAT64,
    float: api_pb2.DATA_TYPE_FLOAT64,
    str: api_pb2.DATA_TYPE_STRING,
}


def write_dashboard(
    writer: SummaryWriter, hparams: Mapping[str, bool | int | float | str], chosen: set[str]
) -> None:
    """Write the layout and the HParams experiment and session into a SummaryWriter's run.

    As TensorBoard's hparams protos, built here: Lightning's ``log_hyperparams`` logs a
    placeholder metric value (a run that never validated would show it) and cannot mark the chosen
    keys (``differs``, which TensorBoard sorts first and shows by default); TensorBoard's own
    summary helpers need TensorFlow.
    """
    writer.add_custom_scalars(LAYOUT)
    infos = [
        api_pb2.HParamInfo(name=name, type=_TYPES[type(value)], differs=name in chosen)
        for name, value in hparams.items()
    ]
    metrics = [
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=METRIC), display_name="best val PSNR"),
        api_pb2.MetricInfo(
            name=api_pb2.MetricName(tag=PRUNED_METRIC), display_name="pruned after epoch"
        ),
    ]
    now = time.time()
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics, time_created_secs=now)
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=now)
    for name, value in hparams.items():
        field = {bool: "bool_value", str: "string_value"}.get(type(value), "number_value")
        setattr(start.hparams[name], field, value)
    file_writer = writer._get_file_writer()
    file_writer.add_summary(_summary(metadata.EXPERIMENT_TAG, experiment=experiment))
    file_writer.add_summary(_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start))
    writer.flush()


def _summary(tag: str, **data: object) -> Summary:
    """One hparams-plugin summary holding ``data`` (an experiment or a session start)."""
    content = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**data))
    return Summary(value=[Summary.Value(tag=tag, metadata=content)])


class TensorBoardDashboard(L.Callback):
    """At train start (never for a run that fails before), write the layout and hyperparameters
    into every TensorBoard logger's run, and the hyperparameters into every other logger through
    Lightning's logger API (CSV, MLflow, W&B)."""

    def __init__(self, hparams: Mapping[str, bool | int | float | str], chosen: set[str]) -> None:
        self.hparams, self.chosen = dict(hparams), set(chosen)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                write_dashboard(logger.experiment, self.hparams, self.chosen)
            else:
                logger.log_hyperparams(self.hparams)


def dashboard_callback(cfg: DictConfig) -> TensorBoardDashboard:
    """The dashboard callback for a composed train config, with this Hydra job's overrides and
    group choices when run under Hydra."""
    if not HydraConfig.initialized():
        return TensorBoardDashboard(*tuned_hparams(cfg))
    hydra_cfg = HydraConfig.get()
    return TensorBoardDashboard(
        *tuned_hparams(cfg, list(hydra_cfg.overrides.task), dict(hydra_cfg.runtime.choices))
    )
