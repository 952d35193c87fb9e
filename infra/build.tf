# The pipelines' own least-privilege account (cloudbuild_*.yaml `serviceAccount:`) and the two
# triggers, from deploy/triggers/*.yaml's path filters (step 10 and 12, 2nd gen connection).
resource "google_service_account" "build" {
  account_id   = "houseprice-build"
  display_name = "houseprice Cloud Build"
}

resource "google_artifact_registry_repository_iam_member" "build_push" {
  repository = google_artifact_registry_repository.houseprice.name
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build" {
  for_each = toset(["roles/container.developer", "roles/logging.logWriter"])
  project  = var.project_id
  role     = each.value
  member   = "serviceAccount:${google_service_account.build.email}"
}

resource "google_cloudbuildv2_repository" "houseprice" {
  name              = var.github_repo
  location          = var.region
  parent_connection = "projects/${var.project_id}/locations/${var.region}/connections/${var.github_connection}"
  remote_uri        = "https://github.com/${var.github_owner}/${var.github_repo}.git"
}

locals {
  triggers = {
    ml  = yamldecode(file("${path.module}/../deploy/triggers/ml.yaml"))
    web = yamldecode(file("${path.module}/../deploy/triggers/web.yaml"))
  }
}

resource "google_cloudbuild_trigger" "pipeline" {
  for_each        = local.triggers
  name            = each.value.name
  description     = each.value.description
  location        = var.region
  filename        = each.value.filename
  included_files  = each.value.includedFiles
  ignored_files   = each.value.ignoredFiles
  service_account = google_service_account.build.id
  substitutions   = merge(each.value.substitutions, { _REGION = var.region, _OVERLAY = var.environment })

  repository_event_config {
    repository = google_cloudbuildv2_repository.houseprice.id
    push {
      branch = each.value.github.push.branch
    }
  }
}
