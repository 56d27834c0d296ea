"""The domain layer: boards, periods and score encodings, with no I/O."""
