# Local state: this environment lives and dies on one machine's emulator. The guardrail
# tests exercise the S3 backend with use_lockfile against the emulator separately.
terraform {
  backend "local" {}
}
