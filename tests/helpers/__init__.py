"""What tests share: model factories, golden-case files, the daemon checkers."""
