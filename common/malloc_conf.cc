// jemalloc's options for every hostlocator binary that links it
// (hl_allocator in CMakeLists.txt: `hostlocator` and both daemons). jemalloc
// reads this symbol at start-up: freed pages go back to the system after
// 1 s instead of 10, which keeps a worker's resident set near its working
// set (bench/README.md: about 30 MB less with 2,000 URLs in flight, no loss
// of speed). Each thread's cache keeps at least 200 (not 20) and at most
// 2,000 (not 200) free objects of a small size class, and is trimmed after
// every 1 MB (not 64 KB) allocated: a probe frees its few hundred objects in
// bursts, which with the defaults overflow the cache and flush it to the
// arena (callgrind, 2,000 http URLs: 2.8% fewer instructions on the worker
// thread, 4.7 to 7.8% with the other cuts; a 20,000-URL run's resident set
// 79-82 MB against 76-78 MB).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:1000,muzzy_decay_ms:0,"
    "tcache_nslots_small_min:200,tcache_nslots_small_max:2000,"
    "tcache_gc_incr_bytes:1048576";
}
