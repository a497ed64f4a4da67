use mmstats::{Counter, MmStats};

#[derive(MmStats)]
#[mmstats(name = "web/stats")]
struct Stats {
    hits: Counter,
}

#[derive(MmStats)]
#[mmstats(name = "")]
struct Empty {
    hits: Counter,
}

#[derive(MmStats)]
#[mmstats(name = "a_name_that_is_longer_than_the_sixty_four_bytes_that_sys_model_holds")]
struct Long {
    hits: Counter,
}

fn main() {}
