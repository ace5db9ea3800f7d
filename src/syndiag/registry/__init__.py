"""The cloud-edge loop's registry of head versions (§3.5): packages, validation, history, rollback."""
