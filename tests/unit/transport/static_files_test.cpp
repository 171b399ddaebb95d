// Serving the web root: types and validators, and no way out of the root.
#include "transport/static_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "transport/http_util.hpp"

namespace encke::transport {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "encke-static-XXXXXX").string();
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        base = tmpl;
        root = base / "www";
        fs::create_directories(root / "sub");
        fs::create_directories(root / "empty");
        fs::create_directories(base / "outside");
        fs::create_directories(base / "www-evil");
        write(root / "index.html", "<h1>home</h1>");
        write(root / "app.js", "console.log(1);");
        write(root / "sub" / "index.html", "<h1>sub</h1>");
        write(root / "data.bin", std::string("\0\1\2", 3));
        write(base / "outside" / "secret.txt", "secret");
        write(base / "www-evil" / "secret.txt", "sibling secret");
        fs::create_symlink(base / "outside" / "secret.txt", root / "leak.txt");
        fs::create_symlink("../www-evil/secret.txt", root / "sibling.txt");
        fs::create_directory_symlink(base / "outside", root / "outdir");
        fs::create_symlink(root / "app.js", root / "alias.js");
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(base, ec);
    }
    static void write(const fs::path& p, const std::string& content) {
        std::ofstream(p, std::ios::binary) << content;
    }
    static_result get(std::string_view target, std::string_view inm = "", std::string_view ims = "",
                      bool head = false) {
        static_files files(root.string());
        return files.get(target, inm, ims, head);
    }

    fs::path base;
    fs::path root;
};

TEST_F(StaticFilesTest, ServesAFileWithTypeAndValidators) {
    auto r = get("/app.js");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "console.log(1);");
    EXPECT_EQ(r.size, 15u);
    EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
    ASSERT_GE(r.etag.size(), 3u);
    EXPECT_EQ(r.etag.front(), '"');
    EXPECT_EQ(r.etag.back(), '"');
    EXPECT_TRUE(parse_http_date(r.last_modified)) << r.last_modified;
}

TEST_F(StaticFilesTest, ServesBinaryContentExactly) {
    auto r = get("/data.bin");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::string("\0\1\2", 3));
    EXPECT_EQ(r.content_type, "application/octet-stream");
}

TEST_F(StaticFilesTest, EtagChangesWhenTheFileChanges) {
    auto before = get("/app.js").etag;
    write(root / "app.js", "console.log(22);");
    EXPECT_NE(get("/app.js").etag, before);
}

TEST_F(StaticFilesTest, MatchingIfNoneMatchIs304) {
    auto etag = get("/app.js").etag;
    auto r = get("/app.js", etag);
    EXPECT_EQ(r.status, 304);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(get("/app.js", "\"other\", " + etag).status, 304);
    EXPECT_EQ(get("/app.js", "*").status, 304);
    EXPECT_EQ(get("/app.js", "\"other\"").status, 200);
}

TEST_F(StaticFilesTest, IfModifiedSinceAtOrAfterTheFileIs304) {
    auto lm = get("/app.js").last_modified;
    EXPECT_EQ(get("/app.js", "", lm).status, 304);
    auto t = *parse_http_date(lm);
    EXPECT_EQ(get("/app.js", "", http_date(t + 3600)).status, 304);
    EXPECT_EQ(get("/app.js", "", http_date(t - 1)).status, 200);
    EXPECT_EQ(get("/app.js", "", "not a date").status, 200);
}

TEST_F(StaticFilesTest, IfNoneMatchTakesPrecedenceOverIfModifiedSince) {
    auto r = get("/app.js");
    EXPECT_EQ(get("/app.js", "\"other\"", r.last_modified).status, 200);
}

TEST_F(StaticFilesTest, HeadHasSizeButNoBody) {
    auto r = get("/app.js", "", "", true);
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(r.size, 15u);
    EXPECT_FALSE(r.etag.empty());
}

TEST_F(StaticFilesTest, DirectoryServesItsIndex) {
    auto top = get("/");
    EXPECT_EQ(top.status, 200);
    EXPECT_EQ(top.body, "<h1>home</h1>");
    EXPECT_EQ(top.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(get("/sub").body, "<h1>sub</h1>");
    EXPECT_EQ(get("/sub/").body, "<h1>sub</h1>");
}

TEST_F(StaticFilesTest, DirectoryWithoutIndexIs404) {
    EXPECT_EQ(get("/empty").status, 404);
    EXPECT_EQ(get("/empty/").status, 404);
}

TEST_F(StaticFilesTest, MissingFileIs404) {
    EXPECT_EQ(get("/nope.html").status, 404);
    EXPECT_EQ(get("/sub/nope/deeper.js").status, 404);
}

TEST_F(StaticFilesTest, PercentEncodedNamesAreDecoded) {
    write(root / "a b.txt", "space");
    EXPECT_EQ(get("/a%20b.txt").body, "space");
}

TEST_F(StaticFilesTest, DotDotSegmentsAreRefused) {
    for (auto target : {"/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E/x",
                        "/sub/..%2f..%2foutside/secret.txt", "/sub/../app.js", "/./app.js",
                        "/sub/%2e/index.html", "/.."}) {
        auto r = get(target);
        EXPECT_TRUE(r.status == 400 || r.status == 403) << target << " -> " << r.status;
        EXPECT_TRUE(r.body.empty()) << target;
    }
}

TEST_F(StaticFilesTest, BackslashAndNulAreRefused) {
    for (auto target :
         {"/sub%5c..%5c..%5coutside%5csecret.txt", "/a%5Cb", "/app.js%00.html", "/a\\b"}) {
        auto r = get(target);
        EXPECT_TRUE(r.status == 400 || r.status == 403) << target << " -> " << r.status;
        EXPECT_TRUE(r.body.empty()) << target;
    }
}

TEST_F(StaticFilesTest, MalformedTargetsAre400) {
    EXPECT_EQ(get("/%zz").status, 400);
    EXPECT_EQ(get("app.js").status, 400);
    EXPECT_EQ(get("").status, 400);
}

TEST_F(StaticFilesTest, AbsolutePathInTargetStaysInsideTheRoot) {
    auto r = get("//etc/passwd");
    EXPECT_NE(r.status, 200);
    EXPECT_TRUE(r.body.empty());
}

TEST_F(StaticFilesTest, SymlinkOutsideTheRootIsRefused) {
    for (auto target : {"/leak.txt", "/sibling.txt", "/outdir/secret.txt"}) {
        auto r = get(target);
        EXPECT_TRUE(r.status == 403 || r.status == 404) << target << " -> " << r.status;
        EXPECT_TRUE(r.body.empty()) << target;
    }
}

TEST_F(StaticFilesTest, SymlinkInsideTheRootIsServed) {
    auto r = get("/alias.js");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "console.log(1);");
}

TEST_F(StaticFilesTest, RootGivenWithTrailingSlashServesFiles) {
    static_files files(root.string() + "/");
    auto r = files.get("/app.js", "", "", false);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "console.log(1);");
}

TEST_F(StaticFilesTest, RelativeRootIsResolved) {
    auto cwd = fs::current_path();
    fs::current_path(base);
    static_files files("www");
    fs::current_path(cwd);
    EXPECT_EQ(files.get("/app.js", "", "", false).status, 200);
}

TEST_F(StaticFilesTest, EmptyRootServesNothing) {
    static_files files("");
    EXPECT_FALSE(files.enabled());
    EXPECT_EQ(files.get("/app.js", "", "", false).status, 404);
    EXPECT_TRUE(static_files(root.string()).enabled());
}

}  // namespace
}  // namespace encke::transport
