"""The artifact walkthrough a W&B user knows, with only the import swapped: a dataset version,
a preprocessing run, training on it, a model with aliases and a registry link, a new dataset
version drafted from the old one, and lineage queries through the public API."""

import os

import localtrack as wandb

PROJECT = "tour-artifacts"

os.makedirs("raw/images", exist_ok=True)
for i in range(4):
    with open(f"raw/images/{i}.txt", "w") as f:
        f.write(f"pixels {i}")
with open("labels.csv", "w") as f:
    f.write("id,label\n0,cat\n1,dog\n2,cat\n3,dog\n")

# 1. upload the raw dataset
with wandb.init(project=PROJECT, job_type="upload") as run:
    raw = wandb.Artifact("mnist-raw", type="dataset", description="4 images", metadata={"n": 4})
    raw.add_dir("raw/images", name="images")
    raw.add_file("labels.csv")
    with raw.new_file("README.txt") as f:
        f.write("synthetic data\n")
    run.log_artifact(raw)

# 2. preprocess: use it, log a derived dataset
with wandb.init(project=PROJECT, job_type="preprocess") as run:
    raw = run.use_artifact("mnist-raw:latest")
    raw_dir = raw.download()
    clean = wandb.Artifact("mnist-clean", type="dataset")
    for name in sorted(os.listdir(os.path.join(raw_dir, "images"))):
        with open(os.path.join(raw_dir, "images", name)) as src:
            text = src.read()
        with clean.new_file(f"clean/{name}") as f:
            f.write(text.upper())
    clean.add(wandb.Table(columns=["id", "label"], data=[[0, "cat"], [1, "dog"]]), "labels")
    run.log_artifact(clean, aliases=["latest", "clean"])

# 3. train: use the clean dataset, log a model, link it into the registry
with wandb.init(project=PROJECT, job_type="train", config={"lr": 0.1}) as run:
    data = run.use_artifact(f"{PROJECT}/mnist-clean:clean", type="dataset")
    data.download()
    with open("model.pt", "w") as f:
        f.write("weights")
    model = wandb.Artifact("mnist-model", type="model", metadata={"accuracy": 0.93})
    model.add_file("model.pt")
    run.log_artifact(model, aliases=["best"])
    run.link_artifact(model, "model-registry/mnist", aliases=["staging"])

# 4. promote the model: move an alias and save
prod = wandb.Api().artifact(f"{PROJECT}/mnist-model:best", type="model")
prod.aliases.append("production")
prod.save()

# 5. a new dataset version drafted from the old one: one file added, one removed
with wandb.init(project=PROJECT, job_type="upload") as run:
    draft = wandb.use_artifact("mnist-raw:latest").new_draft()
    draft.remove("README.txt")
    with open("extra.txt", "w") as f:
        f.write("more data")
    draft.add_file("extra.txt", name="images/extra.txt")
    wandb.log_artifact(draft)

# 6. lineage queries
api = wandb.Api()
model = api.artifact(f"{PROJECT}/mnist-model:production")
producer = model.logged_by()
inputs = [a.name for a in producer.used_artifacts()]
outputs = [a.name for a in producer.logged_artifacts()]
clean = api.artifact(f"{PROJECT}/mnist-clean:latest")
consumers = [r.config.get("lr") for r in clean.used_by()]
versions = [a.version for a in api.artifacts("dataset", f"{PROJECT}/mnist-raw")]
entry = model.get_entry("model.pt")
linked = api.artifact("model-registry/mnist:staging")
table = clean.get("labels")
print("model", model.name, sorted(model.aliases), model.metadata["accuracy"])
print("producer", producer.job_type, inputs, outputs)
print("consumers", consumers)
print("raw versions", versions)
print("entry", entry.path, entry.size, model.file().endswith("model.pt"))
print("registry", linked.digest == model.digest)
print("table", table.columns, len(table.data))
print("new files", sorted(api.artifact(f"{PROJECT}/mnist-raw:v1").entries()))
