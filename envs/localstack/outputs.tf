output "localstack_endpoint" {
  description = "Emulator endpoint this environment was applied against."
  value       = var.localstack_endpoint
}
