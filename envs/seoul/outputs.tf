output "web_url" {
  description = "URL of the app's health check."
  value       = "http://${module.web.public_ip}/health"
}
