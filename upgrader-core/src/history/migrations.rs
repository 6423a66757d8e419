//! The history's own migrations, for a history table of any name.
//!
//! `diesel_migrations`' embedded migrations have their table names written in the SQL. These are
//! the same files (`migrations/<backend>/<version>_<name>/{up,down}.sql`, each backend's set
//! given by its dialect), with `{history}`,
//! `{in_progress}`, `{checkpoint}`, `{run}` and `{run_upgrade}` standing for the tables' quoted names, served through diesel's
//! [`MigrationSource`] so that `MigrationHarness` runs and records them as usual. Each history
//! table has versions of its own: `upgrade`'s are the files' versions (so databases set up before
//! the name could be chosen stay set up), another table's are suffixed with its name, so two
//! histories in one database each get their migrations.

use std::fmt;

use diesel::backend::Backend as DieselBackend;
use diesel::connection::BoxableConnection;
use diesel::migration::{
    self, Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};

use super::HistoryTable;
use super::sql::quoted;
use crate::connection::Backend;
use crate::dialect::MigrationFiles;

/// diesel's `__diesel_schema_migrations.version` is a `VARCHAR(50)`.
const VERSION_MAX: usize = 50;

/// The history's migrations for one backend and one history table.
#[derive(Debug, Clone)]
pub(crate) struct HistoryMigrations {
    backend: Backend,
    table: HistoryTable,
}

impl HistoryMigrations {
    pub(crate) fn new(backend: Backend, table: &HistoryTable) -> Self {
        HistoryMigrations {
            backend,
            table: table.clone(),
        }
    }

    /// The version of the migration that makes the history's tables, recorded once it made them.
    pub(crate) fn setup_version(&self) -> String {
        self.version(self.files()[0].name)
    }

    /// The backend's migrations, oldest first.
    fn files(&self) -> &'static [MigrationFiles] {
        self.backend.dialect().migrations()
    }

    /// Every migration's version for this table, oldest first.
    #[cfg(test)]
    fn versions(&self) -> Vec<String> {
        self.files()
            .iter()
            .map(|files| self.version(files.name))
            .collect()
    }

    fn version(&self, name: &str) -> String {
        let base: String = name.split('_').next().unwrap_or(name).replace('-', "");
        if self.table.name() == HistoryTable::DEFAULT {
            return base;
        }
        let version = format!("{base}_{}", self.table);
        if version.len() <= VERSION_MAX {
            return version;
        }
        // A long name: a fingerprint of it (FNV-1a), the same on every run.
        let hash = self.table.name().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{base}_{hash:016x}")
    }

    fn sql(&self, template: &str) -> String {
        template
            .replace("{history}", &quoted(self.table.name()))
            .replace("{in_progress}", &quoted(&self.table.in_progress()))
            .replace("{checkpoint}", &quoted(&self.table.checkpoint()))
            .replace("{run_upgrade}", &quoted(&self.table.run_upgrades()))
            .replace("{run}", &quoted(&self.table.runs()))
    }
}

impl<DB: DieselBackend> MigrationSource<DB> for HistoryMigrations {
    fn migrations(&self) -> migration::Result<Vec<Box<dyn Migration<DB>>>> {
        Ok(self
            .files()
            .iter()
            .map(|files| {
                Box::new(SqlMigration {
                    name: Name {
                        version: self.version(files.name),
                        file: files.name,
                    },
                    up: self.sql(files.up),
                    down: self.sql(files.down),
                }) as Box<dyn Migration<DB>>
            })
            .collect())
    }
}

struct SqlMigration {
    name: Name,
    up: String,
    down: String,
}

struct Name {
    version: String,
    file: &'static str,
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.file, self.version)
    }
}

impl MigrationName for Name {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(&self.version)
    }
}

/// Each migration runs in a transaction (the default), as the embedded ones did.
struct InTransaction;

impl MigrationMetadata for InTransaction {}

impl<DB: DieselBackend> Migration<DB> for SqlMigration {
    fn run(&self, conn: &mut dyn BoxableConnection<DB>) -> migration::Result<()> {
        conn.batch_execute(&self.up)?;
        Ok(())
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<DB>) -> migration::Result<()> {
        conn.batch_execute(&self.down)?;
        Ok(())
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        &InTransaction
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> HistoryMigrations {
        HistoryMigrations::new(Backend::Postgres, &HistoryTable::new(name).unwrap())
    }

    #[test]
    fn the_default_table_keeps_the_files_versions() {
        assert_eq!(
            source("upgrade").versions(),
            [
                "20261125000000",
                "20261126000000",
                "20261126160000",
                "20261127000000"
            ]
        );
    }

    #[test]
    fn every_other_table_has_versions_of_its_own() {
        assert_eq!(
            source("tenant_a").versions(),
            [
                "20261125000000_tenant_a",
                "20261126000000_tenant_a",
                "20261126160000_tenant_a",
                "20261127000000_tenant_a"
            ]
        );
        let long = "a".repeat(48);
        let versions = source(&long).versions();
        assert!(versions.iter().all(|v| v.len() <= VERSION_MAX), "{versions:?}");
        assert_ne!(versions, source(&"b".repeat(48)).versions());
        assert_eq!(versions, source(&long).versions(), "the same on every run");
    }

    #[test]
    #[cfg(feature = "sqlite")]
    fn the_sql_names_the_chosen_tables_and_nothing_else() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::Mysql] {
            let source = HistoryMigrations::new(backend, &HistoryTable::new("tenant_a").unwrap());
            let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&source).unwrap();
            assert_eq!(migrations.len(), source.files().len());
            let create = source.sql(source.files()[0].up);
            assert!(
                create.contains("CREATE TABLE IF NOT EXISTS \"tenant_a\" ("),
                "{create}"
            );
            assert!(
                create.contains("CREATE TABLE \"tenant_a_in_progress\" ("),
                "{create}"
            );
            assert!(!create.contains('{'), "every placeholder is replaced: {create}");
            assert!(!create.contains("TABLE upgrade"), "{create}");
            let journal = source.sql(source.files()[3].up);
            assert!(journal.contains(" \"tenant_a_run\" ("), "{journal}");
            assert!(journal.contains(" \"tenant_a_run_upgrade\" ("), "{journal}");
            assert!(!journal.contains('{'), "every placeholder is replaced: {journal}");
        }
    }
}
