# One Google service account per workload that touches Cloud Storage, each bound to its
# Kubernetes service account in namespace ml through Workload Identity (steps 8-9).
resource "google_service_account" "workload" {
  for_each     = toset(["mlflow", "data-job", "training", "promotion"])
  account_id   = "houseprice-${each.value}"
  display_name = "houseprice ${each.value}"
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each           = google_service_account.workload
  service_account_id = each.value.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[ml/${each.key}]"
  depends_on         = [google_container_cluster.houseprice]
}
