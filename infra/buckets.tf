# BUCKET_1 (raw sales), BUCKET_2 (dataset versions), BUCKET_3 (MLflow artifacts): private,
# uniform access, versioned (an overwritten or deleted object stays recoverable), access-logged.
resource "google_storage_bucket" "logs" {
  name                        = "${var.project_id}-houseprice-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      age = 365
    }
    action {
      type = "Delete"
    }
  }
  # checkov:skip=CKV_GCP_62:this is the access-log bucket itself; logging it into itself would loop
}

resource "google_storage_bucket" "platform" {
  for_each                    = local.buckets
  name                        = each.value
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  logging {
    log_bucket = google_storage_bucket.logs.name
  }
}

# Per-workload, bucket-scoped grants (docs/deployment.md step 8).
locals {
  bucket_grants = {
    mlflow-artifacts    = { bucket = "mlflow", account = "mlflow", role = "roles/storage.objectAdmin" }
    data-job-raw        = { bucket = "raw", account = "data-job", role = "roles/storage.objectAdmin" }
    data-job-datasets   = { bucket = "datasets", account = "data-job", role = "roles/storage.objectAdmin" }
    training-datasets   = { bucket = "datasets", account = "training", role = "roles/storage.objectViewer" }
    promotion-datasets  = { bucket = "datasets", account = "promotion", role = "roles/storage.objectViewer" }
  }
}

# The promotion writes one object of BUCKET_2, its lease (promotion/lease.py), and nothing else.
resource "google_storage_bucket_iam_member" "promotion_lease" {
  bucket = google_storage_bucket.platform["datasets"].name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.workload["promotion"].email}"
  condition {
    title      = "promotion-lease"
    expression = "resource.name == \"projects/_/buckets/${google_storage_bucket.platform["datasets"].name}/objects/leases/promotion.json\""
  }
}

resource "google_storage_bucket_iam_member" "workloads" {
  for_each = local.bucket_grants
  bucket   = google_storage_bucket.platform[each.value.bucket].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.workload[each.value.account].email}"
}
