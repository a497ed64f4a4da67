use mmstats::Labels;

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "http-method")]
enum Method {
    Get,
}

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "pid")]
enum Process {
    Main,
}

#[derive(Labels, Clone, Copy)]
#[mmstats(key = "__name__")]
enum Reserved {
    One,
}

fn main() {}
