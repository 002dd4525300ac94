"""What a checkpoint says beside its weights, typed: the data it was trained on (spec, held-out split and
fraction), its class names and its training summary. :func:`models.io.checkpoint.load` checks each field
(``_checked_metadata``) and keeps them in ``model.meta``; :func:`meta_of` reads them back as one typed object,
so no caller digs in the dict (a model built in memory, with no file, has an empty one)."""

from __future__ import annotations

from dataclasses import dataclass, field

SPLIT_OF_OLD_FILES = "tail"  # files made before stratified splits held out the data's tail
VAL_FRACTION = 0.1


@dataclass(frozen=True)
class DataMeta:
    spec: str | None = None  # the --data spec it was trained on (None: the file names none)
    split: str = SPLIT_OF_OLD_FILES  # how its held-out part was chosen (models.data.SPLITS)
    val_fraction: float = VAL_FRACTION  # the held-out fraction


@dataclass(frozen=True)
class CheckpointMeta:
    path: str = ""
    kind: str = ""
    data: DataMeta = field(default_factory=DataMeta)
    class_names: tuple[str, ...] = ()
    training: dict = field(default_factory=dict)  # status, steps, epochs_done, record (typed by load)


def meta_of(model) -> CheckpointMeta:
    """The typed metadata of ``model`` (a loaded model's, checked by load; else defaults)."""
    return typed_meta(getattr(model, "meta", None) or {})


def typed_meta(meta: dict) -> CheckpointMeta:
    """A checkpoint's metadata dict (``model.meta``, or ``read_meta`` of a file's header) as one typed object;
    a field missing or of the wrong type takes its default."""
    from latent_explorer.models.data import SPLITS

    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    spec = data.get("spec") if isinstance(data.get("spec"), str) and data.get("spec") else None
    frac = data.get("val_fraction", VAL_FRACTION)
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
        frac = VAL_FRACTION
    split = data.get("split", SPLIT_OF_OLD_FILES)
    names = meta.get("class_names") if isinstance(meta.get("class_names"), list) else []
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    return CheckpointMeta(str(meta.get("path", "")), str(meta.get("kind", "")),
                          DataMeta(spec, split if split in SPLITS else SPLIT_OF_OLD_FILES, float(frac)),
                          tuple(str(n) for n in names), dict(training))
