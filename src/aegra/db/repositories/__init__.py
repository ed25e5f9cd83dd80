"""Advanced Alchemy repositories over Aegra's metadata tables, one module per resource."""
