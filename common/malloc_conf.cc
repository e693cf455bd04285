// jemalloc's options for every hostlocator binary that links it
// (hl_allocator in CMakeLists.txt: `hostlocator` and both daemons). jemalloc
// reads this symbol at start-up: freed pages go back to the system after
// 1 s instead of 10, which keeps a worker's resident set near its working
// set (bench/README.md: about 30 MB less with 2,000 URLs in flight, no loss
// of speed).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
