"""Smart Notes: the composition root that wires the pipeline, storage, Teams and the CRM."""

__version__ = "0.1.0"
