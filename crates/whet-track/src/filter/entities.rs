//! What each search may name: the attributes of experiments, registered models, model
//! versions and logged models (resolved to the columns of their tables), whether it has
//! metrics and params, and what its conditions look like (for error hints).

/// A column of the table a non-run search reads, as an attribute name resolved to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// Compared with numbers (times, ids, version numbers) rather than strings.
    pub numeric: bool,
}

/// What a search is over. Decides the names its filter and `order_by` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Runs,
    Experiments,
    RegisteredModels,
    ModelVersions,
    LoggedModels,
}

const fn text(name: &'static str) -> Column {
    Column {
        name,
        numeric: false,
    }
}

const fn number(name: &'static str) -> Column {
    Column {
        name,
        numeric: true,
    }
}

impl Entity {
    /// The column an attribute name means for this entity. The names are MLflow's for each
    /// search (e.g. `version_number`, `source_path`, `last_updated_timestamp`), plus the
    /// column names themselves.
    pub fn column(self, name: &str) -> Option<Column> {
        let c = match (self, name) {
            (Entity::Runs, _) => return None,
            (Entity::Experiments, "name") => text("name"),
            (Entity::Experiments, "experiment_id") => number("experiment_id"),
            (Entity::Experiments, "creation_time") => number("creation_time"),
            (Entity::Experiments, "last_update_time") => number("last_update_time"),
            (Entity::RegisteredModels, "name") => text("name"),
            (
                Entity::RegisteredModels | Entity::ModelVersions,
                "creation_timestamp" | "creation_time",
            ) => number("creation_time"),
            (
                Entity::RegisteredModels | Entity::ModelVersions,
                "last_updated_timestamp" | "last_updated_time" | "timestamp",
            ) => number("last_updated_time"),
            (Entity::ModelVersions, "name") => text("name"),
            (Entity::ModelVersions, "version_number" | "version") => number("version"),
            (Entity::ModelVersions, "run_id") => text("run_uuid"),
            (Entity::ModelVersions, "source_path" | "source") => text("source"),
            (Entity::ModelVersions, "model_id") => text("model_id"),
            (Entity::LoggedModels, "name") => text("name"),
            (Entity::LoggedModels, "model_id") => text("model_id"),
            (Entity::LoggedModels, "model_type") => text("model_type"),
            (Entity::LoggedModels, "status") => text("status"),
            (Entity::LoggedModels, "source_run_id") => text("source_run_uuid"),
            (Entity::LoggedModels, "experiment_id") => number("experiment_id"),
            (
                Entity::LoggedModels,
                "creation_timestamp" | "creation_time" | "creation_timestamp_ms",
            ) => number("creation_time"),
            (
                Entity::LoggedModels,
                "last_updated_timestamp" | "last_updated_time" | "last_updated_timestamp_ms",
            ) => number("last_updated_time"),
            _ => return None,
        };
        Some(c)
    }

    pub(super) fn has_metrics_and_params(self) -> bool {
        matches!(self, Entity::Runs | Entity::LoggedModels)
    }

    pub(super) fn attribute_names(self) -> &'static str {
        match self {
            Entity::Runs => {
                "run_id, run_name, status, start_time, end_time, user_id, artifact_uri, parent_run_id, data_fingerprint, source_command"
            }
            Entity::Experiments => "name, experiment_id, creation_time, last_update_time",
            Entity::RegisteredModels => "name, creation_timestamp, last_updated_timestamp",
            Entity::ModelVersions => {
                "name, version_number, run_id, source_path, model_id, creation_timestamp, last_updated_timestamp"
            }
            Entity::LoggedModels => {
                "name, model_id, model_type, status, source_run_id, experiment_id, creation_timestamp, last_updated_timestamp"
            }
        }
    }

    pub(super) fn hint(self) -> &'static str {
        match self {
            Entity::Runs => {
                "conditions look like metrics.auc > 0.9, params.learner = 'gbdt', tags.team = 'x', attributes.status = 'FINISHED' or dataset.name = 'train', joined by AND"
            }
            Entity::Experiments => {
                "conditions look like name LIKE 'churn%', tags.team = 'x' or creation_time > 1700000000000, joined by AND"
            }
            Entity::RegisteredModels => {
                "conditions look like name = 'churn' or tags.team = 'x', joined by AND"
            }
            Entity::ModelVersions => {
                "conditions look like name = 'churn', run_id IN ('…'), version_number > 2 or tags.stage = 'x', joined by AND"
            }
            Entity::LoggedModels => {
                "conditions look like name = 'm', status = 'READY', metrics.auc > 0.9, params.lr = '0.1' or tags.x = 'y', joined by AND"
            }
        }
    }
}
