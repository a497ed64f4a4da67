use mmstats::Labels;

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "route")]
enum Route {
    Home,
    Item(u32),
    Search { query: u8 },
}

fn main() {}
