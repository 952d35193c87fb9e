output "web_ip" {
  description = "Create the DNS A record WEB_DOMAIN -> this address (the Ingress')."
  value       = google_compute_global_address.web.address
}

output "nat_ip" {
  description = "The cluster's only egress address: put it on the MongoDB Atlas allow-list."
  value       = google_compute_address.nat.address
}

output "sql_private_ip" {
  description = "Cloud SQL's private address, for MLFLOW_BACKEND_STORE_URI."
  value       = google_sql_database_instance.mlflow.private_ip_address
}

output "mlflow_backend_store_uri" {
  description = "The mlflow-db Secret's value (docs/deployment.md, Secrets)."
  value       = "postgresql+psycopg2://mlflow:${random_password.mlflow.result}@${google_sql_database_instance.mlflow.private_ip_address}:5432/mlflow"
  sensitive   = true
}

output "buckets" {
  description = "BUCKET_1..3 for overlays/<environment>/project/config.env."
  value       = { for use, bucket in google_storage_bucket.platform : use => "gs://${bucket.name}" }
}
