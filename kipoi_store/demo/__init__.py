"""The built-in demo model source: a few tiny models in kipoi's real formats, usable with no network.

    kipoi source add demo "$(python -c 'import kipoi_store.demo as d; print(d.DEMO_ROOT)')"

What it shows (see models/README.md): a plain model (Basset), two-level names sharing files through
relative symlinks and a `default_dataloader: ..` reference (rbp_eclip/UPF1, rbp_eclip/AARS), a
`../model_architecture.py` reference (DeepSEA/predict, DeepSEA/variantEffects) and a model group
(DeepBind: model-template.yaml + models.tsv). The weights are a few bytes of placeholder data.
"""

from pathlib import Path

DEMO_ROOT = Path(__file__).parent / "models"
