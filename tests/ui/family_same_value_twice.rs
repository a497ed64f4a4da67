use mmstats::Labels;

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "status")]
enum Status {
    #[mmstats(value = "5xx")]
    Server,
    #[mmstats(value = "5xx")]
    Gateway,
    #[mmstats(value = "")]
    Nothing,
}

fn main() {}
