using Dapper;
using Npgsql;

namespace Sunaiva.Testing;

/// <summary>A test's look into a service's database: each call takes a pooled connection of its own.</summary>
public static class DataSourceQueries
{
    public static async Task<T> QueryOneAsync<T>(this NpgsqlDataSource data, string sql, object? args = null)
    {
        await using var connection = await data.OpenConnectionAsync();
        return await connection.QuerySingleAsync<T>(sql, args);
    }

    public static async Task<List<T>> QueryListAsync<T>(this NpgsqlDataSource data, string sql, object? args = null)
    {
        await using var connection = await data.OpenConnectionAsync();
        return (await connection.QueryAsync<T>(sql, args)).ToList();
    }

    public static async Task ExecuteSqlAsync(this NpgsqlDataSource data, string sql, object? args = null)
    {
        await using var connection = await data.OpenConnectionAsync();
        await connection.ExecuteAsync(sql, args);
    }
}
