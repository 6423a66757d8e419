use upgrader_core::upgrade;

/// Not a function.
#[upgrade(depends_on = [])]
pub struct Records2024 {
    pub id: u64,
}

fn main() {}
