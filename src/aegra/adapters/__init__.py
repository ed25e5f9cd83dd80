"""The only modules that touch names a dependency does not publish (one module per dependency).

Each adapter has a contract test (`tests/unit/test_adapters.py`, `tests/integration/test_checkpoint_adapter.py`)
that fails loudly when an upgrade moves or changes what it leans on.
"""
