"""Who runs submitted experiments: in this process (embedded) or a remote orchestrator."""
