//! PostgreSQL over TLS (issue 15, must-show 4): a cluster of the test's own (`initdb` in a
//! temporary directory, another port, `ssl = on` with a certificate from a test CA, and only
//! `hostssl` logins with a password), which the three services reach with `sslmode=verify-full`
//! and the password from `database.password_file`; a wrong CA, a wrong host name and plaintext
//! are refused, the first with the host and the reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use shortline_db::{DbPool, PgAccess, PoolOptions};
use shortline_proto::v1;

use crate::helpers::TestDb;
use crate::mtls::TestCa;
use crate::pipeline::{small_theme, start_request, wait_for};
use crate::processes::{free_port, shortline_binary, SystemOptions, TestSystem};

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

const PASSWORD: &str = "tls-test-password";

impl PgCluster {
    /// Initialises and starts a cluster whose server certificate is `cert`/`key`.
    fn start(cert: &Path, key: &Path) -> PgCluster {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).expect("pwfile");
        let cluster = PgCluster { dir, bin, port: free_port() };
        // initdb refuses to run as root: the cluster belongs to the `postgres` user then.
        if running_as_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(cluster.dir.path()));
        }
        run(cluster
            .command("initdb")
            .args(["-U", "postgres", "-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data));
        for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
            std::fs::copy(from, data.join(to)).expect("copy server certificate");
        }
        run(Command::new("chmod").arg("600").arg(data.join("server.key")));
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n",
        )
        .expect("pg_hba.conf");
        let settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nssl = on\n\
             ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
            cluster.port,
            cluster.dir.path().display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf");
        if running_as_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(cluster.dir.path()));
        }
        let log = cluster.dir.path().join("server.log");
        run(cluster.command("pg_ctl").arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "start"]));
        cluster
    }

    /// `program` of the PostgreSQL installation, as the cluster's owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// The URL of the `postgres` database at `host`, with `query`.
    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The newest `/usr/lib/postgresql/*/bin` with initdb (Debian's layout), else initdb on PATH.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => {
            let found = Command::new("sh").args(["-c", "command -v initdb"]).output().expect("sh");
            let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
            assert!(!path.is_empty(), "initdb not found: install PostgreSQL's server package");
            PathBuf::from(path).parent().expect("bin dir").to_owned()
        }
    }
}

fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn run(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What connecting (through a one-connection pool, as the services do) answers.
async fn ping(url: &str, access: &PgAccess) -> Result<(), String> {
    let options = PoolOptions { max_connections: 1, ..PoolOptions::default() };
    let pool = DbPool::connect_with(url, &options, access).map_err(|e| e.to_string())?;
    pool.ping().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_reach_postgresql_over_verified_tls_and_a_wrong_ca_is_refused() {
    let certs = tempfile::tempdir().expect("tempdir");
    let other = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(certs.path());
    TestCa::new(other.path());
    // The server's certificate names `db.internal` and 127.0.0.1, not `localhost`.
    let server = ca.issue(certs.path(), "db.internal");
    let cluster =
        PgCluster::start(server.cert_file.as_deref().expect("cert"), server.key_file.as_deref().expect("key"));
    let password_file = certs.path().join("db-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).expect("password file");
    let ca_file = certs.path().join("ca.pem");
    let access = PgAccess { password_file: Some(password_file.clone()), ca_file: None };
    let verify_full = cluster.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", ca_file.display()));

    // verify-full with the CA, the CA from database.ca_file, and require (encrypted, unchecked).
    ping(&verify_full, &access).await.expect("verify-full");
    let with_ca_key = PgAccess { ca_file: Some(ca_file.clone()), ..access.clone() };
    ping(&cluster.url("127.0.0.1", "sslmode=verify-full"), &with_ca_key).await.expect("verify-full, database.ca_file");
    ping(&cluster.url("127.0.0.1", "sslmode=require"), &access).await.expect("require");

    // The server takes TLS logins only, so plaintext is refused: the connections above were TLS.
    let plaintext = ping(&cluster.url("127.0.0.1", "sslmode=disable"), &access).await.expect_err("plaintext");
    assert!(plaintext.contains("no encryption"), "{plaintext}");

    // Another CA: refused, naming the host and why.
    let wrong_ca =
        cluster.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", other.path().join("ca.pem").display()));
    // (Both test CAs have rcgen's default name, so rustls finds the issuer and the signature fails.)
    let refused = ping(&wrong_ca, &access).await.expect_err("another CA");
    assert!(refused.contains("127.0.0.1") && refused.contains("invalid peer certificate: BadSignature"), "{refused}");
    let verify_ca_wrong = wrong_ca.replace("verify-full", "verify-ca");
    let refused = ping(&verify_ca_wrong, &access).await.expect_err("another CA, verify-ca");
    assert!(refused.contains("invalid peer certificate: BadSignature"), "{refused}");

    // A host the certificate does not name: verify-full refuses it, verify-ca only checks the CA.
    let by_name = |mode: &str| cluster.url("localhost", &format!("sslmode={mode}&sslrootcert={}", ca_file.display()));
    let refused = ping(&by_name("verify-full"), &access).await.expect_err("localhost is not named");
    assert!(refused.contains("localhost") && refused.contains("not valid for name"), "{refused}");
    ping(&by_name("verify-ca"), &access).await.expect("verify-ca ignores the name");

    // The wrong password from the file is refused by the server.
    let wrong_password = certs.path().join("wrong-password");
    std::fs::write(&wrong_password, "nope").expect("file");
    let wrong = PgAccess { password_file: Some(wrong_password), ca_file: None };
    let refused = ping(&verify_full, &wrong).await.expect_err("wrong password");
    assert!(refused.contains("password authentication failed"), "{refused}");

    // `shortline migrate`, as the migration Job runs it: the wrong CA is reported, the right one
    // migrates.
    let migrate = |url: &str| {
        Command::new(shortline_binary())
            .arg("migrate")
            .env("SHORTLINE_DATABASE__URL", url)
            .env("SHORTLINE_DATABASE__PASSWORD_FILE", &password_file)
            .env("SHORTLINE_TELEMETRY__FILTER", "warn")
            .output()
            .expect("shortline migrate")
    };
    let output = migrate(&wrong_ca);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "migrate trusted another CA");
    assert!(stderr.contains("127.0.0.1") && stderr.contains("invalid peer certificate: BadSignature"), "{stderr}");
    let output = migrate(&verify_full);
    assert!(output.status.success(), "migrate: {}", String::from_utf8_lossy(&output.stderr));

    // The three services on that database run a job end to end. (The test database the harness
    // wants is a SQLite file nobody uses: every service is pointed at the cluster.)
    let options = SystemOptions::default()
        .env("SHORTLINE_DATABASE__URL", &verify_full)
        .env("SHORTLINE_DATABASE__PASSWORD_FILE", password_file.display());
    let system = TestSystem::start_with(TestDb::sqlite().await, options).await;
    let mut client = system.orchestrator_client().await;
    let job = client.start_job(start_request(small_theme(true))).await.expect("start").into_inner();
    let job = wait_for(&mut client, job.id, &[v1::JobStatus::Approved], Duration::from_secs(300)).await;
    assert_eq!(job.status, v1::JobStatus::Approved as i32);
}
