resource "google_artifact_registry_repository" "houseprice" {
  repository_id = local.repository
  location      = var.region
  format        = "DOCKER"
  description   = "houseprice images (one per Dockerfile target)"
  labels        = local.labels
  depends_on    = [google_project_service.apis]
  # checkov:skip=CKV_GCP_84:images hold no secret and no data (the build context is an allow-list, tests/deploy check it); Google-managed encryption at rest is enough for them
}
