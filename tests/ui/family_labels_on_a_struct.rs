use mmstats::Labels;

#[derive(Labels, Clone, Copy)]
struct Method {
    get: bool,
}

fn main() {}
