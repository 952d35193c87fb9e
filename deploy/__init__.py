"""Build and deployment tooling: what the pipelines run and check.

- `runtime_requirements` the images' pinned requirement set
- `gen_model_cronjobs` one training CronJob per model folder (`make manifests`)
- `bootstrap` first-deploy seeding of the sample sales (shipped in the bootstrap image)
- `validate_manifests` every base and overlay rendered and schema-checked (`make lint`)
- `scan` checkov over the overlays as applied, the Dockerfile, infra/ and the workflows
- `path_filters`, `trigger_config` the Cloud Build triggers: which change fires which
  pipeline, and the importable trigger for a project and repository
"""
