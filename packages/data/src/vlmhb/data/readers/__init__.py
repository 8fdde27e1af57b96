"""Dataset readers: each is built with no arguments and has ``read(spec) -> DatasetLoad``."""

from vlmhb.data.readers.expand import expand_fields_to_vqa
from vlmhb.data.readers.json_extraction import JsonExtractionReader
from vlmhb.data.readers.vqa_csv import VqaCsvReader

__all__ = ["JsonExtractionReader", "VqaCsvReader", "expand_fields_to_vqa"]
