"""The names kipoi gives the files and directories of a model source, defined once for every reader.

kipoi's own spellings (kipoi/specs.py, kipoi/sources.py): a model or dataloader yaml may end in
`.yaml` or `.yml`, the first present wins.
"""

MODEL_FILES = ("model.yaml", "model.yml")
TEMPLATE_FILES = ("model-template.yaml", "model-template.yml")
DATALOADER_FILES = ("dataloader.yaml", "dataloader.yml")
DATALOADER_TEMPLATES = ("dataloader-template.yaml", "dataloader-template.yml")
GROUP_TABLE = "models.tsv"
DOWNLOADS = "downloaded"  # kipoi's download cache in a model or dataloader directory
