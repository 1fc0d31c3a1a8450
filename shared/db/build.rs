// The embedded migrations are read by a macro at compile time; a new migration directory must
// trigger a rebuild, which the macro alone does not ask for.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
