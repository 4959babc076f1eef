#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int spool_prepare(const char *dir, char *errstr, size_t errstr_size)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path) || !*path) {
        snprintf(errstr, errstr_size, "spool folder name is empty or too long");
        return -1;
    }
    /* mkdir -p */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(errstr, errstr_size, "%s: not a folder", path);
        return -1;
    }
    if (access(path, W_OK | X_OK) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int spool_write(const char *dir, const char *name, const void *buf, size_t len, int *existed, char *errstr,
                size_t errstr_size)
{
    char final[4096], tmp[4200];
    *existed = 0;
    if (snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final)) {
        snprintf(errstr, errstr_size, "spool path too long");
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "create %s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *step = "write";
    if (write_all(fd, buf, len) < 0 || (step = "chmod", fchmod(fd, 0644) < 0) || (step = "fsync", fsync(fd) < 0)) {
        snprintf(errstr, errstr_size, "%s %s: %s", step, tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) < 0) {
        snprintf(errstr, errstr_size, "close %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    *existed = access(final, F_OK) == 0;
    if (rename(tmp, final) < 0) {
        snprintf(errstr, errstr_size, "rename to %s: %s", final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (fsync_dir(dir) < 0) {
        snprintf(errstr, errstr_size, "fsync %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int spool_manifest_has(const char *dir, const char *event_id, char *errstr, size_t errstr_size)
{
    char path[4200], needle[128];
    snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_MANIFEST);
    snprintf(needle, sizeof(needle), "\"event_id\":\"%s\"", event_id);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(errstr, errstr_size, "open %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) >= 0)
        found = strstr(line, needle) != NULL;
    int err = ferror(f);
    free(line);
    fclose(f);
    if (err) {
        snprintf(errstr, errstr_size, "read %s: error", path);
        return -1;
    }
    return found;
}

int spool_manifest_append(const char *dir, const char *line, char *errstr, size_t errstr_size)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_MANIFEST);
    size_t n = strlen(line);
    char *buf = malloc(n + 1);
    if (!buf) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    memcpy(buf, line, n);
    buf[n] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd < 0) {
        snprintf(errstr, errstr_size, "open %s: %s", path, strerror(errno));
    } else {
        /* One write() per line: concurrent appenders (two instances) never interleave within a line.
         * A short write (disk full) is cut off again, so no partial line stays behind. */
        struct stat st;
        off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
        ssize_t w = write(fd, buf, n + 1);
        if (w != (ssize_t)(n + 1)) {
            snprintf(errstr, errstr_size, "append to %s: %s", path, w < 0 ? strerror(errno) : "short write");
            if (w > 0 && before >= 0 && ftruncate(fd, before) < 0)
                snprintf(errstr, errstr_size, "append to %s: short write, and cannot cut it off", path);
        } else if (fsync(fd) < 0)
            snprintf(errstr, errstr_size, "fsync %s: %s", path, strerror(errno));
        else
            rc = 0;
        close(fd);
    }
    free(buf);
    return rc;
}
