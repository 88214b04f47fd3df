using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Amazon.S3;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Sunaiva.Media.Tests;

[Collection(ServersCollection.Name)]
public sealed class FilesTests(MediaServers servers) : MediaTestBase(servers)
{
    [Fact]
    public async Task Uploaded_file_downloads_byte_for_byte_for_its_owner_with_its_type_and_no_sniffing()
    {
        using var ada = App.ClientFor(Ada);
        var bytes = Encoding.UTF8.GetBytes("my memory vault note\n");

        var upload = await UploadAsync(ada, bytes, "text/plain", "note.txt");
        var file = await upload.Content.ReadFromJsonAsync<JsonElement>();
        var id = file.GetProperty("id").GetString()!;
        var download = await ada.GetAsync($"/files/{id}/content");

        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        Assert.Equal($"/files/{id}", upload.Headers.Location?.OriginalString);
        Assert.Equal(bytes.Length, file.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
        Assert.Equal("text/plain", download.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("note.txt", (await ada.GetFromJsonAsync<JsonElement>($"/files/{id}")).GetProperty("name").GetString());
    }

    [Fact]
    public async Task Another_users_file_is_a_404_to_read_download_and_delete_and_stays_intact()
    {
        using var ada = App.ClientFor(Ada);
        using var bob = App.ClientFor(Bob);
        var png = TestFiles.Png();
        var id = await UploadedIdAsync(ada, png, "image/png", "face.png");

        var read = await bob.GetAsync($"/files/{id}");
        var download = await bob.GetAsync($"/files/{id}/content");
        var delete = await bob.DeleteAsync($"/files/{id}");

        Assert.All([read, download, delete], r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
        Assert.All([read, download, delete], r => Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType));
        Assert.Empty(await bob.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{id}/content"));
    }

    [Fact]
    public async Task Deleted_file_is_gone_from_the_listing_the_database_and_object_storage()
    {
        using var ada = App.ClientFor(Ada);
        var id = await UploadedIdAsync(ada, TestFiles.Pdf("a document"), "application/pdf", "doc.pdf");
        var objectKey = await App.ScalarAsync<string>("SELECT object_key FROM files WHERE id = @id", ("id", id));

        var delete = await ada.DeleteAsync($"/files/{id}");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ada.GetAsync($"/files/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ada.GetAsync($"/files/{id}/content")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ada.DeleteAsync($"/files/{id}")).StatusCode);
        Assert.Empty(await ada.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
        var s3 = App.Services.GetRequiredService<IAmazonS3>();
        var missing = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectMetadataAsync(Extensions.FilesBucket, objectKey));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Retried_upload_with_the_same_idempotency_key_stores_one_file()
    {
        using var ada = App.ClientFor(Ada);

        var png = TestFiles.Png();
        var first = await UploadAsync(ada, png, "image/png", "a.png", "upload-1");
        var retry = await UploadAsync(ada, png, "image/png", "a.png", "upload-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString(), (await retry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", Ada)));
    }

    [Fact]
    public async Task Upload_of_a_refused_type_gets_415_problem_details()
    {
        using var ada = App.ClientFor(Ada);

        var response = await UploadAsync(ada, [0x4d, 0x5a, 0x90, 0x00], "application/x-msdownload", "setup.exe");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await ada.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
    }

    [Fact]
    public async Task Upload_over_the_configured_size_gets_413_problem_details()
    {
        await using var small = new MediaApp(Servers.Servers);
        using var app = small.WithWebHostBuilder(b => b.UseSetting("FileVault:MaxUploadBytes", "4"));
        using var ada = app.CreateClient();
        ada.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Sunaiva.Testing.DevTokens.For(Ada));

        var response = await UploadAsync(ada, TestFiles.Text("hello"), "text/plain", "big.txt");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] bytes, string contentType, string name, string? idempotencyKey = null) =>
        TestFiles.UploadAsync(client, bytes, contentType, name, idempotencyKey);

    private static Task<string> UploadedIdAsync(HttpClient client, byte[] bytes, string contentType, string name) =>
        TestFiles.UploadedIdAsync(client, bytes, contentType, name);
}
