"""VLMHyperBench data package: dataset readers and the synthetic document generator.

Readers (``vlmhb.datasets`` entry points): :class:`vlmhb.data.readers.VqaCsvReader`
(``vqa_csv``) and :class:`vlmhb.data.readers.JsonExtractionReader` (``json_extraction``).
The generator lives in :mod:`vlmhb.data.synth`; the CLI (``vlmhb datasets``) in
:mod:`vlmhb.data.cli`.
"""
