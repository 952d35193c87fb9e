locals {
  # The same names as the manifests, the pipelines and the runbook use.
  cluster    = "houseprice"
  network    = "houseprice"
  repository = "houseprice"
  buckets = {
    raw      = "${var.project_id}-houseprice-raw"      # BUCKET_1
    datasets = "${var.project_id}-houseprice-datasets" # BUCKET_2
    mlflow   = "${var.project_id}-houseprice-mlflow"   # BUCKET_3
  }
  labels = {
    app         = "houseprice"
    environment = var.environment
  }
  apis = [
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "sqladmin.googleapis.com",
    "servicenetworking.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "storage.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudkms.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  service            = each.value
  disable_on_destroy = false
}
